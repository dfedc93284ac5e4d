"""How long-running work shows itself and shares the CPU: progress bars and torch thread counts."""

from contextlib import contextmanager

__all__ = ["progress_bar", "torch_threads"]


def progress_bar(iterable=None, *, enabled=True, **options):
    """A tqdm progress bar over ``iterable`` (or one updated by hand), silent unless ``enabled``.

    A disabled bar still iterates and accepts ``update``, ``set_postfix``
    and ``close``, so callers need no second code path.

    Parameters
    ----------
    iterable : iterable, default=None
        What to iterate over; None for a bar advanced with ``update``.
    enabled : bool, default=True
        Whether the bar is shown.
    **options
        tqdm's options, e.g. ``total``, ``desc``, ``unit``.

    Returns
    -------
    bar : tqdm.tqdm

    Examples
    --------
    >>> from skmitm._runtime import progress_bar
    >>> [x for x in progress_bar(range(3), enabled=False, desc="demo")]
    [0, 1, 2]
    """
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, **options)


@contextmanager
def torch_threads(n_threads):
    """Run a block with ``n_threads`` torch CPU threads, restoring the previous count after it.

    Parameters
    ----------
    n_threads : int or None
        Threads for the block; None leaves torch's setting as it is.

    Examples
    --------
    >>> import torch
    >>> from skmitm._runtime import torch_threads
    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    import torch

    previous = torch.get_num_threads()
    if n_threads is not None:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
