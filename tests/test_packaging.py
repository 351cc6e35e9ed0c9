from pathlib import Path

import pytest

import hear_mixers
from hear_mixers.shipped import weights_dir

package = Path(hear_mixers.__file__).parent


@pytest.mark.skipif(
    "site-packages" not in str(package), reason="hear_mixers runs from a source checkout"
)
def test_weights_folder_is_installed_inside_the_package():
    assert weights_dir() == package / "weights"
    assert (weights_dir() / "README.md").is_file()


def test_weights_folder_holds_the_model_card():
    assert (weights_dir() / "README.md").is_file()
