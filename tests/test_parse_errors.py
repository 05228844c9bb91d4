"""jsonargparse's errors rewritten as one line that names the option and what to do."""

from dmtl.cli.parse_errors import closest, explain

OPTIONS = ["model.optim.lr", "model.optim.name", "model.optim.weight_decay", "trainer.max_epochs"]


def test_initials_of_a_spelled_out_name_find_the_short_option():
    assert closest("model.optim.learning_rate", OPTIONS) == "model.optim.lr"


def test_a_misspelling_finds_the_nearest_option_and_nonsense_finds_none():
    assert closest("model.optim.weight_decy", OPTIONS) == "model.optim.weight_decay"
    assert closest("zzz.qqq", OPTIONS) is None


def test_several_unknown_options_are_each_named_on_the_one_line():
    text = explain("unrecognized arguments: --model.optim.learnin_rate=1 --zzz 3", OPTIONS)
    assert "\n" not in text
    assert text.startswith("unknown option model.optim.learnin_rate; did you mean model.optim.lr?")
    assert text.endswith("unknown option zzz; `dmtl <command> --help` lists the options")


def test_a_literal_without_a_close_value_lists_the_values_only():
    message = (
        'Parser key "model.diffusion.schedule":\n'
        "  Expected a typing.Literal['linear', 'cosine']. Got value: zzz"
    )
    assert (
        explain(message, OPTIONS) == "model.diffusion.schedule: 'zzz' is not one of linear, cosine"
    )


def test_any_other_message_is_joined_onto_one_line():
    assert explain('Parser key "a.b":\n  first\n  second', OPTIONS) == "a.b: first second"
