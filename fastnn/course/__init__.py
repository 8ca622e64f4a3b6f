"""The course, one runnable script per chapter: ``python -m fastnn course``.

Each ``chNN_<topic>.py`` in this package belongs to chapter NN (3-31) of a
deep-learning fundamentals course.  A script prints what its chapter
teaches, with the course's own numbers where the course has them, and
draws it (PNG files; they need the plot extra, ``pip install fastnn[plot]``).
The scripts are meant to be read as well as run: each is self-contained.

    python -m fastnn course              # the chapters: number, title, what each shows
    python -m fastnn course 7            # run chapter 7's script
    python -m fastnn course 7 --fast     # the same in seconds (small data, few epochs)
    python -m fastnn course 7 --out DIR  # pictures in DIR instead of ./fastnn-course-output

From a clone of the repository the same scripts run directly, e.g.
``python fastnn/course/ch07_learning_in_epochs.py --fast``.

``contents`` is the table of contents (``chapters()``, ``chapter(7).run(argv)``);
``script`` is the command line every chapter script shares (``arguments``).
"""
from .contents import Chapter, chapter, chapters
from .script import OUTPUT_FOLDER, arguments

__all__ = ["OUTPUT_FOLDER", "Chapter", "arguments", "chapter", "chapters"]
