"""Downloading one file: with a timeout, a few tries, a progress bar, and never half a file.

A download that hangs is worse than one that fails. On a network that accepts the connection
and then never answers (a captive portal, a broken proxy), a request without a timeout waits
forever and the learner's notebook with it. So every request here gives up after `TIMEOUT_S`
seconds of silence, is tried `TRIES` times, shows its progress, and is written to a ".part" file
that becomes the real file only when it is complete and, given a checksum, correct. `make data` runs

    download("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
             "data/cifar-10-python.tar.gz", checksum=("md5", "c58f30108f718f92721af3b95e74349a"))

Failures are `DownloadError`s, which are `OSError`s: the callers (`data.download_cifar`,
`models.imagenet_resnet18`) turn them into sentences naming the address, the folder and how
to put the file there by hand.
"""
import hashlib
import http.client
import os
import time
import urllib.error
import urllib.request
from pathlib import Path

# Seconds without a byte from the server before a try is given up.
TIMEOUT_S = 30.0
TRIES = 3
# Seconds to wait before trying again: a network that just dropped often comes back.
PAUSE_S = 2.0
CHUNK_BYTES = 1 << 16


class DownloadError(OSError):
    """A download that failed after all its tries; the message says why in a few words."""


def download(url: str, destination, *, checksum: tuple[str, str] | None = None, timeout: float | None = None,
             tries: int | None = None, progress: bool = True) -> Path:
    """Fetch `url` into the file `destination`; returns it.

    `checksum` is (algorithm, expected hex digest or its first characters), e.g. ("md5", "c58f...").
    `timeout` and `tries` default to TIMEOUT_S and TRIES. Raises `DownloadError`, leaving no file.

    A file:// address works as well, which lets this example run without a network:

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     lesson = Path(folder, "lesson.txt")
    ...     _ = lesson.write_text("transfer")
    ...     saved = download(lesson.as_uri(), Path(folder, "copy.txt"), checksum=("md5", "84a0f3"), progress=False)
    ...     saved.name, saved.read_text()
    ('copy.txt', 'transfer')
    """
    destination = Path(destination)
    timeout = TIMEOUT_S if timeout is None else timeout
    tries = TRIES if tries is None else tries
    partial = destination.with_name(destination.name + ".part")
    try:
        for attempt in range(1, tries + 1):
            try:
                fetch(url, partial, timeout, progress)
                break
            except urllib.error.HTTPError as error:
                last, why = error, f"the server answered HTTP {error.code} {error.reason}"
                if error.code < 500:  # the file is not there, or not for us: asking again will not help
                    raise DownloadError(why) from error
            except (OSError, http.client.HTTPException) as error:  # network errors are OSErrors
                last, why = error, reason(error, timeout)
            if attempt < tries:
                time.sleep(PAUSE_S)
        else:
            raise DownloadError(f"{why}; tried {tries} times") from last
        if checksum is not None:
            algorithm, expected = checksum
            if not file_digest(partial, algorithm).startswith(expected):
                raise DownloadError(f"the file received does not match its {algorithm} checksum: "
                                    "the download was damaged")
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)  # after a failure, Ctrl+C, or SIGTERM: no half file is left
    return destination


def fetch(url: str, partial: Path, timeout: float, progress: bool):
    """One try: stream `url` into `partial` with a progress bar."""
    from tqdm.auto import tqdm

    request = urllib.request.Request(url, headers={"User-Agent": "tl-lessons"})
    with urllib.request.urlopen(request, timeout=timeout) as response, open(partial, "wb") as file:
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, unit="B", unit_scale=True, unit_divisor=1024, desc=partial.name.removesuffix(".part"),
                  disable=not progress) as bar:
            while chunk := response.read(CHUNK_BYTES):
                file.write(chunk)
                bar.update(len(chunk))
        if size is not None and file.tell() != size:
            raise http.client.IncompleteRead(b"", size - file.tell())


def reason(error: Exception, timeout: float) -> str:
    """A few words on why a try failed."""
    cause = getattr(error, "reason", error)  # URLError wraps the socket's error
    if isinstance(cause, TimeoutError):  # the socket's timeout
        return f"no answer within {timeout:g} s"
    if isinstance(error, http.client.IncompleteRead):
        return "the connection closed before the whole file arrived"
    return str(cause)


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes: `file_digest(Path("x.tar.gz"), "md5")`."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
