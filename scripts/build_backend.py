"""The build backend of protst-hf: setuptools' own (`setuptools.build_meta`), with one addition.

The card templates live at the top of the repository (`model_cards/`) and are installed as `protst_hf.model_cards`
through setuptools' `package-dir` mapping (pyproject.toml). With a package mapped outside `src/`, setuptools makes an
editable install with an import finder instead of a plain `.pth` file, and says so with an informational notice
("Editable installation ... be careful with folders in your working directory with the same name as your
package"): no folder of the checkout is named like the package, so that notice is silenced here, and only it.
Wheels and sdists are built by setuptools unchanged.
"""

import warnings

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every hook of setuptools' backend)
from setuptools.warnings import InformationOnly


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"\s*Editable installation", category=InformationOnly)
        return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)
