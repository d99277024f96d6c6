"""Real test infrastructure (sshd, PostgreSQL...) as pytest plugins, one module each.

Every ``tests/support/<name>.py`` is loaded by ``tests/conftest.py`` as a plugin, so its
fixtures are available to every test.
"""
