"""Check a built course site offline: every internal link, anchor and embedded file resolves,
and no page loads a script, style sheet or image from another host.

External hyperlinks (papers, library docs) are counted but never fetched.

    python docs/site/check_site.py docs/site/_build/html
"""

import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

# Resources from another host that the site accepts, with the reason.
ALLOWED_EXTERNAL = {
    "https://maxcdn.bootstrapcdn.com/font-awesome/4.4.0/css/font-awesome.min.css":
        "written by matplotlib's Animation.to_jshtml() into notebook 00's stored output; "
        "the theme's own Font Awesome draws the player's icons offline",
}
# (tag, attribute) pairs that make the browser load a file, and those that are hyperlinks.
LOADS = {("img", "src"), ("script", "src"), ("source", "src"), ("audio", "src"),
         ("video", "src"), ("video", "poster"), ("iframe", "src"), ("embed", "src"),
         ("link", "href")}
LINKS = {("a", "href"), ("area", "href")}


class _Page(HTMLParser):
    """Collects the ids of one page and the URLs it loads or links to."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.urls: list[tuple[str, str, str]] = []      # (kind "load" | "link", tag, url)
        self.tags: Counter[str] = Counter()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] += 1
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name") and tag != "meta":
                self.ids.add(value)
            if (tag, name) in LOADS:
                self.urls.append(("load", tag, value))
            elif (tag, name) in LINKS:
                self.urls.append(("link", tag, value))


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def check_site(root: Path) -> tuple[list[str], Counter[str]]:
    """Return the problems found in the site under ``root`` and counts of what was checked."""
    root = root.resolve()
    # _static holds the theme's template fragments, which are not pages.
    pages = {path: _parse(path) for path in sorted(root.rglob("*.html"))
             if path.relative_to(root).parts[0] != "_static"}
    problems: list[str] = []
    counts: Counter[str] = Counter(pages=len(pages))
    for path, page in pages.items():
        where = path.relative_to(root)
        counts.update({tag: page.tags[tag] for tag in ("img", "audio", "video")})
        for kind, tag, url in page.urls:
            parts = urlsplit(url)
            if parts.scheme in ("data", "mailto", "javascript"):
                continue
            if parts.scheme or url.startswith("//"):
                if kind == "link":
                    counts["external links (not fetched)"] += 1
                elif url in ALLOWED_EXTERNAL:
                    counts["allowed external loads"] += 1
                else:
                    problems.append(f"{where}: <{tag}> loads {url} from another host")
                continue
            counts[f"internal {kind}s"] += 1
            target = path if not parts.path else (path.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file() or not target.is_relative_to(root):
                problems.append(f"{where}: <{tag}> {url} points to a missing file")
            elif parts.fragment and target.suffix == ".html":
                counts["anchors"] += 1
                if unquote(parts.fragment) not in pages[target].ids:
                    problems.append(f"{where}: <{tag}> {url}: no id {parts.fragment!r} in {target.name}")
    return problems, counts


def main(argv: list[str]) -> int:
    root = Path(argv[1] if len(argv) > 1 else "docs/site/_build/html")
    if not (root / "index.html").is_file():
        print(f"check_site: no built site in {root}", file=sys.stderr)
        return 2
    problems, counts = check_site(root)
    for problem in problems:
        print(f"check_site: {problem}", file=sys.stderr)
    print("check_site: " + ", ".join(f"{count} {what}" for what, count in counts.items()))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
