import json
import os
import re
import subprocess
import sys

import pytest
import torch

from dmtl.errors import ConfigError, DataError, MissingDataError
from dmtl.models.backbone import TimmBackbone
from support import REPO


@pytest.mark.parametrize(
    ("name", "channels", "strides"),
    [("resnet18", [64, 128, 256, 512], [4, 8, 16, 32]), ("mobilenetv3_small_050", None, None)],
)
def test_channels_and_strides_come_from_timm(name, channels, strides):
    bb = TimmBackbone(name)
    feats = bb(torch.randn(2, 3, 64, 64))
    assert len(feats) == 4
    assert [f.shape[1] for f in feats] == bb.channels
    assert [64 // f.shape[-1] for f in feats] == bb.strides
    if channels is not None:
        assert bb.channels == channels and bb.strides == strides


def test_explicit_out_indices():
    bb = TimmBackbone("resnet18", out_indices=(2, 3))
    assert bb.channels == [128, 256] and bb.strides == [8, 16]


def test_too_small_image_teaches_the_minimum():
    with pytest.raises(ValueError, match="smaller than the backbone's coarsest stride 32"):
        TimmBackbone("resnet18")(torch.randn(1, 3, 16, 64))


def test_unknown_backbone_and_missing_weights_file(tmp_path):
    with pytest.raises(ConfigError, match="resnet19x"):
        TimmBackbone("resnet19x")
    with pytest.raises(MissingDataError, match="r18.safetensors"):
        TimmBackbone("resnet18", weights=str(tmp_path / "r18.safetensors"))


def test_local_weights_file_is_loaded(tmp_path):
    import timm

    donor = timm.create_model("resnet18")
    path = tmp_path / "r18.pth"
    torch.save(donor.state_dict(), path)
    bb = TimmBackbone("resnet18", weights=str(path))
    torch.testing.assert_close(bb.model.conv1.weight, donor.conv1.weight)


def test_pretrained_offline_gives_a_teaching_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ConfigError, match="backbone_weights"):
        TimmBackbone("resnet18", pretrained=True)


def _donor(name="test_resnet"):
    import timm

    torch.manual_seed(1)  # weights that differ from the backbone's own random initialisation
    return timm.create_model(name)


def _assert_backbone_holds(bb, donor):
    own = bb.model.state_dict()
    given = donor.state_dict()
    assert own.keys() <= given.keys()
    for key, tensor in own.items():
        torch.testing.assert_close(tensor, given[key], msg=key)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_tiny_weights_file_is_loaded_through_timm(tmp_path, suffix):
    from safetensors.torch import save_file

    donor = _donor()
    path = tmp_path / f"test_resnet{suffix}"
    if suffix == ".pth":
        torch.save(donor.state_dict(), path)
    else:
        save_file(donor.state_dict(), str(path))
    bb = TimmBackbone("test_resnet", weights=str(path))
    _assert_backbone_holds(bb, donor)
    assert len(bb(torch.randn(1, 3, 64, 64))) == 4


def test_missing_weights_file_is_one_line(tmp_path):
    path = tmp_path / "weights" / "test_resnet.pth"
    with pytest.raises(MissingDataError) as info:
        TimmBackbone("test_resnet", weights=str(path))
    assert str(info.value) == f"backbone weights file {path} does not exist"


def _one_line_data_error(path, **kwargs):
    with pytest.raises(DataError) as info:
        TimmBackbone("test_resnet", weights=str(path), **kwargs)
    message = str(info.value)
    assert str(path) in message and "test_resnet" in message
    assert len(message.splitlines()) == 1 and "\x1b" not in message
    return message


def test_weights_file_with_wrong_keys_is_refused(tmp_path):
    donor = _donor()
    wrong = tmp_path / "wrong.pth"
    torch.save({f"model.{k}": v for k, v in donor.state_dict().items()}, wrong)
    assert re.search(
        r"does not fit .* \d+ of the backbone's \d+ tensors", _one_line_data_error(wrong)
    )
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in donor.state_dict().items() if not k.startswith("layer4")}, partial)
    assert "first: layer4." in _one_line_data_error(partial)


def test_weights_of_another_model_are_refused(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(_donor("resnet18").state_dict(), path)
    assert "size mismatch for" in _one_line_data_error(path)


def test_weights_file_with_pickled_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pth"
    torch.save({"conv1.0.weight": Exploit()}, path)
    message = _one_line_data_error(path)
    assert not marker.exists()
    assert "system" in message and "weights_only" not in message


_HUB_SCRIPT = """
import json, socket, sys, time
from pathlib import Path

import timm, torch
from safetensors.torch import save_file
from dmtl.errors import DMTLError
from dmtl.models.backbone import TimmBackbone

hub, report = sys.argv[1], {}
# What "stops at once" means, without a clock: no host is looked up or connected to and nothing
# waits (no retry with back-off), whatever the machine's speed or load.
connects, sleeps = [], []
real = {"connect": socket.socket.connect, "connect_ex": socket.socket.connect_ex}
real_sleep = time.sleep


def recording(method):
    def call(sock, address):
        connects.append(repr(address))
        return real[method](sock, address)

    return call


for method in real:
    setattr(socket.socket, method, recording(method))
real_lookup = socket.getaddrinfo


def lookup(host, *args, **kwargs):
    connects.append(host)
    return real_lookup(host, *args, **kwargs)


socket.getaddrinfo = lookup
time.sleep = lambda seconds: (sleeps.append(seconds), real_sleep(seconds))[1]
try:
    TimmBackbone("test_resnet", pretrained=True)
except DMTLError as err:
    report["error"], report["error_type"] = str(err), type(err).__name__
finally:
    for method, function in real.items():
        setattr(socket.socket, method, function)
    socket.getaddrinfo, time.sleep = real_lookup, real_sleep
report["connects"], report["sleeps"] = connects, sleeps
# the cache as a download would leave it: the hub repo's snapshot of model.safetensors
torch.manual_seed(1)
donor = timm.create_model("test_resnet")
repo, revision = Path(hub) / "models--timm--test_resnet.r160_in1k", "0" * 40
(repo / "snapshots" / revision).mkdir(parents=True)
(repo / "refs").mkdir()
(repo / "refs" / "main").write_text(revision)
save_file(donor.state_dict(), str(repo / "snapshots" / revision / "model.safetensors"))
given = donor.state_dict()
own = TimmBackbone("test_resnet", pretrained=True).model.state_dict()
report["cached_weights_used"] = all(torch.equal(v, given[k]) for k, v in own.items())
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def offline_hub(tmp_path_factory):
    """Run the backbone offline (HF_HUB_OFFLINE=1) on an empty, then a filled HF_HOME cache."""
    home = tmp_path_factory.mktemp("hf_home")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(home)}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    env.pop("HF_HUB_CACHE", None)
    done = subprocess.run(
        [sys.executable, "-c", _HUB_SCRIPT, str(home / "hub")],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_pretrained_offline_with_an_empty_cache_stops_at_once(offline_hub):
    message = offline_hub["error"]
    assert offline_hub["error_type"] == "ConfigError"
    # at once: no connection tried, no wait (a clock bound would depend on the machine's load)
    assert offline_hub["connects"] == [] and offline_hub["sleeps"] == []
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "test_resnet" in message and "HF_HUB_OFFLINE" in message
    assert "machine with network" in message and "backbone_weights" in message


def test_pretrained_offline_uses_the_hub_cache(offline_hub):
    assert offline_hub["cached_weights_used"] is True
