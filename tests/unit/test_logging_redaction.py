import json
import logging

import structlog

from marketbridge.logging import configure_logging, redact_text, register_secrets
from marketbridge.settings import load_settings


def test_configured_secrets_are_replaced_everywhere(capsys):
    settings = load_settings(mirakl_api_key="zz-distinctive-mirakl-key-zz", magento_token="yy-distinctive-token-yy")
    configure_logging(settings, json_logs=True)
    log = structlog.get_logger("test")
    log.info("calling", headers={"Authorization": "zz-distinctive-mirakl-key-zz"}, url="x?key=yy-distinctive-token-yy",
             nested=[{"deep": "yy-distinctive-token-yy"}])
    logging.getLogger("uvicorn").warning("header Authorization: zz-distinctive-mirakl-key-zz")
    err = capsys.readouterr().err
    assert "zz-distinctive-mirakl-key-zz" not in err
    assert "yy-distinctive-token-yy" not in err
    assert "calling" in err
    line = next(line for line in err.splitlines() if '"calling"' in line)
    assert json.loads(line)["headers"]["Authorization"] == "***"


def test_bearer_values_are_masked_even_when_not_configured():
    register_secrets([])
    assert redact_text("Authorization: Bearer abcdef123456") == "Authorization: Bearer ***"
