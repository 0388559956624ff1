"""tl_lessons: a hands-on kit that teaches transfer learning."""
__version__ = "0.1.0"
