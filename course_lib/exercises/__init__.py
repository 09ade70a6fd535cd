"""Exercise checks: one module per notebook (``nb03`` for notebook 03), called from the exercise cells.

    from course_lib.exercises import nb03 as check
    check.exercise_3(counts)      # prints "Exercise 3: passed ..." or "Exercise 3: not yet ..." and a hint

A check judges the learner's answer and explains what is wrong; it never raises for a wrong answer
unless ``COURSE_STRICT_CHECKS=1`` (set by ``test.sh``, so that the instructor's solutions must pass).
``student_edition`` writes the notebooks without solutions; ``grade`` scores submitted notebooks.
"""
