"""Downloads: a silent network is given up on, errors are retried or not as they deserve, and each
failure is a sentence naming the address, the folder and the way to put the file there by hand."""
import hashlib
import io
from types import SimpleNamespace

import pytest
import torch
import torchvision

from local_servers import http_server, silent_server
from tl_lessons import data, downloads, models
from tl_lessons.errors import DataUnavailableError, WeightsUnavailableError


@pytest.fixture(autouse=True)
def quick_tries(monkeypatch):
    """Half a second of silence counts as no answer here, and tries follow each other at once."""
    monkeypatch.setattr(downloads, "TIMEOUT_S", 0.5)
    monkeypatch.setattr(downloads, "PAUSE_S", 0.0)


def cifar10_from(monkeypatch, url):
    """Make `url` CIFAR-10's official address."""
    real = data.cifar_files
    monkeypatch.setattr(data, "cifar_files", lambda name: data.CifarFiles(**{**real(name).__dict__, "url": url}))


@pytest.mark.timeout(300)  # without a timeout of its own, the download would wait here forever
def test_a_server_that_never_answers_is_given_up_on(tmp_path, monkeypatch):
    root = tmp_path / "data"
    with silent_server() as server:
        url = f"{server.url}/cifar-10-python.tar.gz"
        cifar10_from(monkeypatch, url)
        with pytest.raises(DataUnavailableError) as error:
            data.download_cifar("cifar10", root)
        assert server.connections == downloads.TRIES
    message = str(error.value)
    assert f"from {url} into {root} (no answer within 0.5 s; tried 3 times)" in message
    assert "put cifar-10-python.tar.gz into" in message and "TL_LESSONS_DATA" in message
    assert list(root.iterdir()) == []  # no half-downloaded file


@pytest.mark.parametrize("status, requests", [(404, 1), (503, 3)],
                         ids=["missing: not retried", "server error: retried"])
def test_an_http_error_is_named(tmp_path, monkeypatch, status, requests):
    root = tmp_path / "data"
    with http_server({"/cifar-10-python.tar.gz": (status, b"an error page")}) as server:
        url = f"{server.url}/cifar-10-python.tar.gz"
        cifar10_from(monkeypatch, url)
        with pytest.raises(DataUnavailableError, match=f"the server answered HTTP {status}") as error:
            data.download_cifar("cifar10", root)
        assert len(server.requests) == requests
    assert url in str(error.value) and "another way" in str(error.value)
    assert list(root.iterdir()) == []


def test_a_damaged_download_is_not_kept(tmp_path, monkeypatch):
    root = tmp_path / "data"
    with http_server({"/cifar-10-python.tar.gz": (200, b"not the archive")}) as server:
        cifar10_from(monkeypatch, f"{server.url}/cifar-10-python.tar.gz")
        with pytest.raises(DataUnavailableError, match="does not match its md5 checksum"):
            data.download_cifar("cifar10", root)
    assert list(root.iterdir()) == []


def test_progress_is_shown(tmp_path, capsys):
    body = bytes(range(256)) * 1000
    with http_server({"/file.bin": (200, body)}) as server:
        path = downloads.download(f"{server.url}/file.bin", tmp_path / "file.bin",
                                  checksum=("sha256", hashlib.sha256(body).hexdigest()[:8]))
    assert path.read_bytes() == body
    err = capsys.readouterr().err
    assert "file.bin" in err and "100%" in err


# --- the ImageNet weights -------------------------------------------------------------------------


def resnet18_weights_at(monkeypatch, url):
    """Make `url` the address of torchvision's ResNet-18 ImageNet weights."""
    monkeypatch.setattr(torchvision.models, "ResNet18_Weights", SimpleNamespace(DEFAULT=SimpleNamespace(url=url)))


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.mark.timeout(300)
def test_weights_from_a_server_that_never_answers(torch_home, monkeypatch):
    with silent_server() as server:
        url = f"{server.url}/resnet18-f37072fd.pth"
        resnet18_weights_at(monkeypatch, url)
        with pytest.raises(WeightsUnavailableError) as error:
            models.imagenet_resnet18(10)
        assert server.connections == downloads.TRIES
    message = str(error.value)
    assert url in message and str(torch_home) in message and "no answer within 0.5 s" in message
    assert "put it into" in message and "TORCH_HOME" in message
    assert list(torch_home.iterdir()) == []


def test_weights_missing_on_the_server(torch_home, monkeypatch):
    with http_server({}) as server:
        resnet18_weights_at(monkeypatch, f"{server.url}/resnet18-f37072fd.pth")
        with pytest.raises(WeightsUnavailableError, match="HTTP 404"):
            models.imagenet_resnet18(10)
    assert list(torch_home.iterdir()) == []


def test_weights_are_downloaded_checked_and_cached(torch_home, monkeypatch):
    buffer = io.BytesIO()
    torch.save(torchvision.models.resnet18().state_dict(), buffer)
    body = buffer.getvalue()
    name = f"resnet18-{hashlib.sha256(body).hexdigest()[:8]}.pth"
    with http_server({f"/{name}": (200, body), "/resnet18-00000000.pth": (200, body)}) as server:
        resnet18_weights_at(monkeypatch, f"{server.url}/resnet18-00000000.pth")  # a name the bytes do not match
        with pytest.raises(WeightsUnavailableError, match="does not match its sha256 checksum"):
            models.imagenet_resnet18(10)
        resnet18_weights_at(monkeypatch, f"{server.url}/{name}")
        model = models.imagenet_resnet18(10)
        models.imagenet_resnet18(10)  # the second time from the cache
        assert server.requests == ["/resnet18-00000000.pth", f"/{name}"]
    assert [p.name for p in torch_home.iterdir()] == [name]
    assert model.eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
