"""Who may do what: roles and permissions, accounts with hashed passwords, sign-in throttling, the first-admin
setup token, API keys with scopes, and the OIDC role mapping. No Streamlit, no FastAPI: the front-ends adapt.

- :mod:`core.auth.roles`     permissions, the role matrix, API-key scopes (the one policy table)
- :mod:`core.auth.passwords` argon2id hashing and the password rules
- :mod:`core.auth.accounts`  the built-in accounts file (``<data_dir>/auth/accounts.json``)
- :mod:`core.auth.throttle`  failed sign-ins per account and per client: a growing delay after a few tries
- :mod:`core.auth.setup`     the one-time token that creates the first admin
- :mod:`core.auth.api_keys`  API keys: shown once, stored as a hash, scopes, expiry, revocation, rate limit
- :mod:`core.auth.oidc`      signed-in identity provider users -> roles (by e-mail, domain or group)

The use-cases (sign in, add a user, create a key, ...) and their audit lines are in core/services/users.py and
core/services/keys.py; every service checks the actor's permissions (core/services/access.py).
"""
