"""Text from the engine or the operator, made safe to put inside Textual markup.

``rich.markup.escape`` (and ``textual.markup.escape``) escape only what *Rich* reads as
a tag: a ``[`` followed by a lower-case letter, ``#``, ``/`` or ``@``. Textual's markup
parser (``Static.update``, ``notify``) reads more as tags: ``[Unreleased]`` became an
unknown style and vanished from a failure's fix ("add entries under ; then..."). Every
``[`` is escaped here.

No Textual import: the screens' status texts are built with it before anything is shown.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """``text`` as Textual (and Rich) markup that shows it literally.

    Every ``[`` becomes ``\\[`` (what Textual's parser reads as a literal bracket; other
    backslashes are kept as they are; Rich's own ``from_markup`` reads it the same way
    unless the text has a backslash right before a bracket). A trailing backslash would
    escape the tag that the caller's markup puts right after it (``[b]…\\[/b]``): a
    zero-width space is put after it.

    Args:
        text: Any text (engine messages, paths, commands, server answers).

    Returns:
        Markup whose plain text is ``text`` (plus a zero-width space after a trailing
        backslash).
    """
    escaped = text.replace("[", "\\[")
    return escaped + "\u200b" if escaped.endswith("\\") else escaped
