"""The service layer honours ``signing_algorithm`` and ``token_x5c``: the first start's key,
the signer every request uses, a rotation's next key and the registry config it prints."""

from __future__ import annotations

import jwt
import yaml

from authsvc.services import context as context_module
from authsvc.services.operations import key_rotation, registry_config
from tests.services.conftest import Units


def test_first_start_makes_an_rs256_key_and_the_signer_leaves_x5c_out(tmp_path):
    units = Units(tmp_path, signing_algorithm="RS256", token_x5c=False)
    try:
        signer = units.context.signer
        assert signer.material.algorithm == "RS256"
        token = signer.issue(subject="alice", audience="registry", access=[]).token
        assert jwt.get_unverified_header(token) == {"alg": "RS256", "kid": signer.material.libtrust_kid,
                                                    "typ": "JWT"}
        config = yaml.safe_load(registry_config.registry_config(units.new(), registry_version=3))
        assert config["auth"]["token"]["signingalgorithms"] == ["RS256"]
        assert config["auth"]["token"]["jwks"].endswith("jwks.json")
    finally:
        units.close()


def test_rotation_makes_the_configured_type_and_registry_3_is_told_to_accept_both(tmp_path, monkeypatch):
    monkeypatch.setattr(context_module, "KEY_RECHECK_SECONDS", 0)  # see the activation at once
    es256 = Units(tmp_path, signing_algorithm="ES256")  # an installation made with ES256
    es256.close()
    units = Units(tmp_path, signing_algorithm="RS256", token_x5c=True)  # ... whose setting is changed later
    try:
        assert units.context.signer.material.algorithm == "ES256"  # the existing key keeps signing
        before = yaml.safe_load(registry_config.registry_config(units.new(), registry_version=3))
        # Listed already, so that the next rotation's key is not refused by this config.
        assert before["auth"]["token"]["signingalgorithms"] == ["ES256", "RS256"]
        with units.new().committing() as work:
            key_rotation.stage(work)
        with units.new().committing() as work:
            key_rotation.activate(work)
        assert units.context.signer.material.algorithm == "RS256"
        after = yaml.safe_load(registry_config.registry_config(units.new(), registry_version=3))
        assert after["auth"]["token"]["signingalgorithms"] == ["RS256", "ES256"]  # active, then previous
        token = units.context.signer.issue(subject="alice", audience="registry", access=[]).token
        assert "x5c" in jwt.get_unverified_header(token)
    finally:
        units.close()
