"""Swagger UI's JavaScript and CSS, served by the app itself from the `swagger-ui-bundle`
package, so /api/docs works with no internet access.

flask-smorest renders the page at /api/docs (OPENAPI_SWAGGER_UI_PATH) and loads the assets from
OPENAPI_SWAGGER_UI_URL, which is this blueprint's static folder.
"""

from __future__ import annotations

from flask import Blueprint
from swagger_ui_bundle import swagger_ui_path

from collab.config import Config

blp = Blueprint(
    "swagger_ui",
    __name__,
    static_folder=swagger_ui_path,
    static_url_path=Config.OPENAPI_SWAGGER_UI_URL.rstrip("/"),
)
