"""pytest set-up shared by the unit tests and the nbval run of the chapters.

The chapters run in the quick profile unless SHAP_BOOK_PROFILE says otherwise; the kernels nbval starts
inherit this process's environment.
"""

import os
from pathlib import Path

os.environ.setdefault("SHAP_BOOK_PROFILE", "quick")
# nbval's kernels start in chapters/: a relative data directory must be made absolute here.
if os.environ.get("SHAP_BOOK_DATA"):
    os.environ["SHAP_BOOK_DATA"] = str(Path(os.environ["SHAP_BOOK_DATA"]).resolve())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")


def pytest_report_header(config):
    return (f"book profile: {os.environ['SHAP_BOOK_PROFILE']}; "
            f"data: {os.environ.get('SHAP_BOOK_DATA') or 'canonical downloads (SHAP_BOOK_DATA unset)'}")
