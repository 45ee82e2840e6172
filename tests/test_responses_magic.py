"""The issue's example in a real IPython shell and in real kernels: `%%imagegen --continue`, over both APIs."""

from __future__ import annotations

import json

import pytest
from helpers.kernels import kernel
from IPython.core.error import UsageError

import imagemagic


@pytest.mark.parametrize("api", ["images", "responses"])
def test_the_example_over_either_api(ip, api, capsys):
    ip.run_line_magic("config", f"ImageGenMagics.api = {api!r}")
    ip.run_cell_magic(
        "imagegen", "--size 1536x1024 --stream --partial-images 2 --out fox", "A red fox in a snowy forest, watercolor"
    )
    ip.run_cell_magic("imagegen", "--continue fox --out fox2", "Now at night, under the northern lights")
    ip.run_cell_magic("imagegen", "--continue --out fox3", "Add a full moon")  # bare: the last result
    fox, fox2, fox3 = (ip.user_ns[name] for name in ("fox", "fox2", "fox3"))
    assert [img.size for img in (fox[0], fox2[0], fox3[0])] == [(1536, 1024)] * 3
    chain = imagemagic.history(chain=fox3)
    assert [e.path for e in chain] == [fox.files[0], fox2.files[0], fox3.files[0]]
    if api == "responses":
        assert fox2.request.previous_response_id == fox.images[0].response_id
        assert fox3.request.previous_response_id == fox2.images[0].response_id
        assert "plus gpt-5.5's" in capsys.readouterr().out  # the mainline model's tokens are named
    else:
        assert fox2.request.operation == "edit" and fox2.request.images[0].data == fox.images[0].data
        assert json.loads(fox3.files[0].with_suffix(".json").read_text())["parent"].endswith(fox2.files[0].name)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("--continue nowhere", "--continue nowhere: NameError: name 'nowhere' is not defined (and no such file)"),
        ("--continue x --image x", "--continue refines one earlier result: leave out --image and --grid"),
        ("--continue x", "int cannot be refined: give an ImageResult, one of its images, or a history entry"),
        (
            "--continue r --grid size=1024x1024,1536x1024",
            "--continue refines one earlier result: leave out --image and --grid",
        ),
    ],
)
def test_refusals_are_one_line(ip, server_url, line, message):
    ip.user_ns["x"] = 42
    ip.user_ns["r"] = imagemagic.generate("a fox", base_url=server_url)
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("imagegen", line, "a prompt")
    assert str(info.value) == message


def test_n_over_the_responses_api_is_refused_before_sending(ip, server_url):
    ip.user_ns["r"] = imagemagic.generate("a fox", base_url=server_url)
    ip.run_line_magic("config", "ImageGenMagics.api = 'responses'")
    before = len(imagemagic.history(None))
    with pytest.raises(UsageError) as info:
        ip.run_cell_magic("imagegen", "--continue r -n 2", "at night")
    assert str(info.value) == "n=2: the Responses API's image tool makes one image per call: use n=1, or api='images'"
    assert len(imagemagic.history(None)) == before


def test_a_chain_survives_a_kernel_restart(server_url, clean_env):
    """generate, --continue twice, restart the kernel, --continue from the history entry: the chain holds every
    step, first image first, and the step after the restart continues the same conversation."""
    env = {"OPENAI_BASE_URL": server_url, "IMAGEMAGIC_HOME": str(clean_env)}
    setup = "%config ImageGenMagics.api = 'responses'"
    with kernel(**env) as k:
        k.run(setup)
        k.run("%%imagegen --size 1024x1536 --out fox\nA red fox in a snowy forest, watercolor")
        k.run("%%imagegen --continue fox --out fox2\nNow at night, under the northern lights")
        k.run("%%imagegen --continue --out fox3\nAdd a full moon")
        before = k.output("print(fox3.images[0].response_id)").strip()
    with kernel(**env) as k:
        k.run(setup)
        k.run("import imagemagic; entry = imagemagic.history(1)[0]")
        k.run("%%imagegen --continue entry --out fox4\nAnd an owl on a branch")
        out = k.output(
            "print(fox4.request.previous_response_id); "
            "print(len(imagemagic.history(chain=fox4))); "
            "print([e.prompt for e in imagemagic.history(chain=fox4)])"
        ).splitlines()
    assert out[0] == before
    assert out[1] == "4"  # the first image and three refinement steps
    assert out[2] == str(
        [
            "A red fox in a snowy forest, watercolor",
            "Now at night, under the northern lights",
            "Add a full moon",
            "And an owl on a branch",
        ]
    )
