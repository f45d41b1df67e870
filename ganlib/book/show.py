"""`show_source`: a chapter shows the library code it runs, never a copy of it."""


def show_source(*objs):
    """Display the source code of each of `objs` (functions, classes or modules) as a
    highlighted block, so a chapter shows the library code it runs instead of a copy of it.

    Each block is displayed here, one after the other: a cell shows only its last
    expression's value, so `show_source(a); show_source(b)` returning blocks would show b
    alone. Returns None. TypeError if given nothing or something without source."""
    from IPython.display import Markdown, display

    if not objs:
        raise TypeError("show_source needs at least one function, class or module")
    blocks = [Markdown(source_markdown(obj)) for obj in objs]
    for block in blocks:  # all sources found before anything is shown
        display(block)


def source_markdown(obj):
    """The Markdown text `show_source` displays for `obj`: its source in a python code fence.
    The book's tests compare a committed chapter's blocks with it. TypeError (from `inspect`)
    for an object without source."""
    import inspect

    return f"```python\n{inspect.getsource(obj).rstrip()}\n```"
