"""The prediction encoding and its inverse: decode(encode(raw)) gives back what encoding keeps."""

import pytest
import torch

from dmtl.errors import ConfigError
from dmtl.models.encoding import DECODE_EPS, decode_prediction, encode_prediction
from dmtl.tasks import TaskSpec, resolve_tasks

SPECS = {s.name: s for s in resolve_tasks("synthetic", ["semseg", "depth", "normals", "edge"])}


def _raw(name: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    c = SPECS[name].channels
    raw = torch.randn(2, c, 5, 7, generator=g)
    return raw.abs() * 4 if name == "depth" else raw


def test_encoded_maps_lie_in_minus_one_to_one():
    for name, spec in SPECS.items():
        z = encode_prediction(spec, _raw(name), depth_scale=10.0)
        assert z.shape == _raw(name).shape
        assert z.min() >= -1 and z.max() <= 1, name


def test_decoding_inverts_the_encoding_up_to_what_it_forgets():
    for name, spec in SPECS.items():
        raw = _raw(name)
        back = decode_prediction(spec, encode_prediction(spec, raw, 10.0), 10.0)
        if spec.kind == "segmentation":  # logits up to a constant: the same probabilities
            torch.testing.assert_close(back.softmax(1), raw.softmax(1))
        elif spec.kind == "boundary":
            torch.testing.assert_close(back.sigmoid(), raw.sigmoid())
        elif spec.kind == "normals":  # vectors up to their length
            torch.testing.assert_close(back, torch.nn.functional.normalize(raw, dim=1))
        else:  # depth: metres, exactly
            torch.testing.assert_close(back, raw)
        # and encoding the decoded map gives the encoded map back
        z = encode_prediction(spec, raw, 10.0)
        torch.testing.assert_close(encode_prediction(spec, back, 10.0), z, atol=2e-5, rtol=0)


def test_decoding_a_noisy_map_is_finite_and_clamps_probabilities():
    z = encode_prediction(SPECS["semseg"], _raw("semseg")) + 0.5 * torch.randn(2, 13, 5, 7)
    logits = decode_prediction(SPECS["semseg"], z)
    assert torch.isfinite(logits).all()
    assert logits.max() <= 0  # log-probabilities
    assert logits.min() >= torch.log(torch.tensor(DECODE_EPS / 13 / (1 - DECODE_EPS)))
    edge = decode_prediction(SPECS["edge"], torch.tensor([[-3.0, 3.0]]).view(1, 1, 1, 2))
    expected = torch.tensor([DECODE_EPS, 1 - DECODE_EPS]).logit()
    torch.testing.assert_close(edge.flatten(), expected)


def test_a_task_kind_without_an_encoding_is_a_config_error():
    spec = TaskSpec("flow", "flow", 2, "epe", False)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'flow'"):
        decode_prediction(spec, torch.zeros(1, 2, 2, 2))
