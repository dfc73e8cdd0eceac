"""Finding dataloaders: every PipelineDetails in a module, clear errors for broken ones."""

import pytest

from tfi_data.discovery import DataloaderError, discover

GOOD = """
from tfi_data import Export, PipelineDetails, Source
a = PipelineDetails(name="a", sources=[Source.csv("s", "s.csv")], exports=[Export(table="a", keys=["id"])])
b = PipelineDetails(name="b", sources=[Source.csv("s", "s.csv")], exports=[Export(table="b", keys=["id"])])
alias = a
"""


def test_every_module_level_details_is_found_once_sorted(tmp_path):
    (tmp_path / "two.py").write_text(GOOD)
    (tmp_path / "_helper.py").write_text("raise RuntimeError('private modules are not dataloaders')")
    found = discover(tmp_path)
    assert [d.name for d in found] == ["a", "b"]
    assert found[0].base_dir == tmp_path.resolve()


def test_a_syntax_error_names_file_and_line(tmp_path):
    (tmp_path / "bad.py").write_text("x = 1\ndef broken(:\n")
    with pytest.raises(DataloaderError, match=rf"{tmp_path / 'bad.py'}:2:\d+: syntax error"):
        discover(tmp_path)


def test_an_invalid_field_names_file_line_pipeline_and_field(tmp_path):
    (tmp_path / "wrong.py").write_text(
        "from tfi_data import Export, PipelineDetails, Source\n"
        "\n"
        "d = PipelineDetails(name='w', sources=[Source.csv('s', 's.csv')],\n"
        "                    exports=[Export(table='t', keys=['id'])], transformer='tidy')\n"
    )
    with pytest.raises(DataloaderError) as exc:
        discover(tmp_path)
    assert f"{tmp_path / 'wrong.py'}:3: DetailsError: pipeline 'w': transformer: 'tidy' is not callable" == str(
        exc.value
    )


def test_duplicate_pipeline_names_across_files_are_refused(tmp_path):
    (tmp_path / "one.py").write_text(GOOD)
    (tmp_path / "two.py").write_text(GOOD)
    with pytest.raises(DataloaderError, match=r"pipeline name .a. is declared in .*one.py and in .*two.py"):
        discover(tmp_path)


def test_a_missing_path_is_named(tmp_path):
    with pytest.raises(DataloaderError, match=r"dataloaders path not found: .*nowhere"):
        discover(tmp_path / "nowhere")
