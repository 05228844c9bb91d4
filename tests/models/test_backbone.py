import pytest
import torch

from dmtl.errors import ConfigError, MissingDataError
from dmtl.models.backbone import TimmBackbone


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
