"""Config: valid files load; every error names the file, the key, the line and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from iact_tui.config import CONFIG_NAME, find_config, load_config
from iact_tui.errors import ConfigError

GOOD = """\
[project]
main_branch = "main"
tag_prefix = "v"
version_files = ["app/__init__.py"]

[checks]
tests = ""
coverage_report = ""

[environments.staging]
app_dir = "../staging"
health_url = "http://127.0.0.1:8001/api/health"
pre = [{ name = "maintenance on", run = "{python} manage.py maintenance on" }]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def test_good_file_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD))
    assert cfg.project.remote == "origin"
    assert cfg.root == tmp_path.resolve()
    staging = cfg.environments["staging"]
    assert [s.name for s in staging.steps][:2] == ["fetch tags", "check out the release tag"]
    assert cfg.env_app_dir("staging") == (tmp_path / "../staging").resolve()
    assert cfg.needs_confirmation("staging") is False


def test_production_always_needs_confirmation(tmp_path: Path) -> None:
    text = (
        GOOD + '\n[environments.production]\napp_dir = "/srv/x"\nhealth_url = "http://127.0.0.1:1/h"\nconfirm = false\n'
    )
    assert load_config(write(tmp_path, text)).needs_confirmation("production") is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace('main_branch = "main"', 'main_branch = "ma in"'), [":2: project.main_branch", "git ref"]),
        (
            GOOD.replace("[checks]", "[checks]\ncoverage_min = 180"),
            [":7: checks.coverage_min", "less than or equal to 100"],
        ),
        (GOOD.replace('tag_prefix = "v"', 'tag_prefx = "v"'), [":3: project.tag_prefx", "did you mean 'tag_prefix'"]),
        (
            GOOD.replace("http://127.0.0.1:8001/api/health", "127.0.0.1:8001"),
            [":12: environments.staging.health_url", "not an http(s) URL"],
        ),
        (
            GOOD.replace("{python} manage.py", "{pyhton} manage.py"),
            ["environments.staging.pre", "unknown placeholder {pyhton}"],
        ),
        (GOOD + '\n[forge]\nkind = "gitlab"\n', ["forge.kind", "'local'", "gitlab"]),
        (GOOD.replace('tag_prefix = "v"', 'tag_prefix = "v'), ["not valid TOML", "line 3"]),
    ],
)
def test_errors_name_file_key_line_and_what_is_allowed(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, message


def test_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="iact-tui init"):
        load_config(tmp_path / CONFIG_NAME)
    with pytest.raises(ConfigError, match=r"no iact-release\.toml found"):
        find_config(tmp_path)


def test_a_branch_without_the_config_says_which_branch_holds_it(tmp_path: Path) -> None:
    """A crash can leave a hotfix branch cut from an old tag checked out, whose tree has no
    iact-release.toml: the error says to check out main, not to write a new config."""
    import subprocess

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / "app.py").write_text("x = 1\n")
    git("add", "app.py")
    git("commit", "-q", "-m", "app")
    git("tag", "v1.0.0")
    write(tmp_path, GOOD)
    git("add", CONFIG_NAME)
    git("commit", "-q", "-m", "config")
    git("checkout", "-q", "-b", "hotfix/v1.0.1", "v1.0.0")
    with pytest.raises(ConfigError) as found:
        find_config(tmp_path)
    assert found.value.what.endswith("hotfix/v1.0.1 is checked out, and the file is on main only")
    assert "git checkout main" in found.value.fix
    git("checkout", "-q", "--detach", "v1.0.0")
    with pytest.raises(ConfigError, match="a detached HEAD is checked out"):
        find_config(tmp_path)


def test_find_config_walks_up(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_config(deep) == path.resolve()


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('main_branch = "main"', 'main_branch = ""', "project.main_branch: String should have at least 1 character"),
        ("[checks]", "[checks]\ncoverage_min = true", "checks.coverage_min: Input should be a valid number"),
        ("[checks]", '[checks]\ncoverage_min = "80"', "checks.coverage_min: Input should be a valid number"),
    ],
)
def test_wrong_types_are_refused_not_coerced(tmp_path: Path, old: str, new: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, GOOD.replace(old, new)))
    assert expected in str(info.value)


def test_a_literal_secret_is_refused_with_the_way_to_do_it(tmp_path: Path) -> None:
    text = (
        GOOD
        + '\n[environments.staging.smoke.login]\nurl = "http://127.0.0.1:8001/login"\nusername = "u"\npassword = "hunter2"\n'
    )
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert "environments.staging.smoke.login.password: secrets never go in this file" in message
    assert "password_env" in message and "hunter2" not in message
    bad_name = text.replace('password = "hunter2"', 'password_env = "hunter2 secret value"')
    with pytest.raises(ConfigError, match="password_env"):
        load_config(write(tmp_path, bad_name))


SSH = """\
[environments.production]
transport = "ssh"
hosts = ["web1", "web2"]
app_dir = "/srv/iact"
health_url = "https://example.invalid/api/health"
"""


def test_ssh_environment_loads_with_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, SSH))
    prod = cfg.environments["production"]
    assert prod.transport == "ssh" and prod.hosts == ["web1", "web2"]
    assert (prod.user, prod.port, prod.identity_file, prod.known_hosts, prod.ssh_config, prod.proxy_jump) == (
        "",
        None,
        "",
        "",
        "",
        "",
    )
    assert prod.connect_timeout == 10.0 and prod.serial == 1
    assert cfg.env_app_dir("production") == Path("/srv/iact")  # a path on the hosts, not resolved here


def test_ssh_options_load(tmp_path: Path) -> None:
    text = SSH + (
        'user = "deploy"\nport = 2222\nidentity_file = "~/.ssh/deploy"\nknown_hosts = "ops/known_hosts"\n'
        'ssh_config = "ops/ssh_config"\nproxy_jump = "ops@bastion:22"\nconnect_timeout = 3.5\nserial = 2\n'
    )
    prod = load_config(write(tmp_path, text)).environments["production"]
    assert (prod.user, prod.port, prod.identity_file, prod.known_hosts) == (
        "deploy",
        2222,
        "~/.ssh/deploy",
        "ops/known_hosts",
    )
    assert (prod.ssh_config, prod.proxy_jump, prod.connect_timeout, prod.serial) == (
        "ops/ssh_config",
        "ops@bastion:22",
        3.5,
        2,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (SSH.replace('hosts = ["web1", "web2"]\n', ""), ['transport = "ssh" needs hosts']),
        (SSH.replace('hosts = ["web1", "web2"]', "hosts = []"), ['transport = "ssh" needs hosts']),
        (SSH.replace('"/srv/iact"', '"srv/iact"'), ["needs an absolute app_dir"]),
        (SSH + "port = 70000\n", [":6: environments.production.port", "less than or equal to 65535"]),
        (SSH + 'port = "22"\n', ["environments.production.port", "valid integer"]),
        (SSH + "serial = 0\n", ["environments.production.serial", "greater than or equal to 1"]),
        (SSH + "connect_timeout = 0\n", ["environments.production.connect_timeout", "greater than 0"]),
        (SSH.replace('"web2"', '"web1"'), ["hosts listed twice: web1"]),
        (SSH.replace('"web2"', '"-oProxyCommand=x"'), ["is not a host name"]),
        (SSH + 'user = "root; rm"\n', ["environments.production.user", "should match pattern"]),
        (SSH.replace('"ssh"', '"telnet"'), ["environments.production.transport", "'local' or 'ssh'", "telnet"]),
        # There is no switch for host key checking, under any name.
        (SSH + "strict_host_key_checking = false\n", ["strict_host_key_checking", "unknown key"]),
        (SSH + "insecure = true\n", ["environments.production.insecure", "unknown key"]),
        (GOOD + 'hosts = ["web1"]\n', ['hosts only applies to transport = "ssh"']),
        (GOOD + 'user = "deploy"\nport = 22\n', ['user, port only apply to transport = "ssh"']),
    ],
)
def test_ssh_options_are_validated(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in expected:
        assert fragment in message, message


def test_a_check_across_a_tables_keys_names_the_tables_line(tmp_path: Path) -> None:
    path = tmp_path / "iact-release.toml"
    path.write_text(
        '[project]\nmain_branch = "main"\n\n[environments.production]\ntransport = "ssh"\n'
        'app_dir = "srv/iact"\nhosts = ["web1"]\nhealth_url = "http://127.0.0.1:9/h"\n'
    )
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert f'{path}:4: environments.production: transport = "ssh" needs an absolute app_dir' in err.value.what
    assert "Value error" not in err.value.what


# Credential-shaped test values are built by concatenation so no scanner mistakes this
# file for a leak.
_GH = "ghp" + "_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
_SLACK_HOOK = "https://hooks.slack.com/services/" + "T000/B000/XXXXXXXXXXXXXXXXXXXXXXXX"


@pytest.mark.parametrize(
    ("addition", "key", "line", "hidden"),
    [
        (  # a secret's name holding a literal value, in a table header's key
            '\n[environments.staging.backup]\ndatabase = "iact"\ndirectory = "/b"\ndb_password = "s3cr3t-pw"\n',
            "environments.staging.backup.db_password",
            18,
            "s3cr3t-pw",
        ),
        (  # a header named like a secret
            '\n[[environments.staging.smoke.checks]]\nname = "api"\nurl = "http://127.0.0.1:1/"\n'
            'headers = { Authorization = "Bearer abc123def" }\n',
            "environments.staging.smoke.checks.0.headers.Authorization",
            18,
            "abc123def",
        ),
        ('\n[announce]\nwebhook_url = "https://chat.example.invalid/x"\n', "announce.webhook_url", 16, "chat.example"),
        ('\n[forge]\ntoken = "plain-text-token"\n', "forge.token", 16, "plain-text-token"),
        ('\n[forge]\napi_key = "k-123456"\n', "forge.api_key", 16, "k-123456"),
        # credential shapes anywhere, whatever the key
        (f'\n[announce]\nteam = "{_GH}"\n', "announce.team", 16, _GH),
        ('\n[announce]\nteam = "xox' + 'b-1234567890-abcdefghij"\n', "announce.team", 16, "abcdefghij"),
        (f'\n[announce]\noutput = "{_SLACK_HOOK}"\n', "announce.output", 16, "XXXXXXXX"),
        (
            '\n[announce]\noutput = "https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/1/2"\n',
            "announce.output",
            16,
            "IncomingWebhook",
        ),
        (
            '\n[announce]\noutput = "https://chat.example.invalid/hooks/' + "a1b2c3d4e5f6g7h8i9j0k1l2m3" + '"\n',
            "announce.output",
            16,
            "a1b2c3d4e5f6",
        ),
        ("", "", 0, ""),  # a URL with user:password@, below
        ('\n[announce]\nteam = "AKIA' + 'ABCDEFGHIJKLMNOP"\n', "announce.team", 16, "ABCDEFGHIJKLMNOP"),
        # found by the operator trial: a token in a URL's query, a command that echoes the password
        (
            '\n[environments.staging.smoke.login]\nurl = "http://127.0.0.1:8001/login?token=abcd1234efgh5678"\n'
            'username = "u"\n',
            "environments.staging.smoke.login.url",
            16,
            "abcd1234efgh5678",
        ),
        (
            '\n[environments.staging.smoke.login]\nurl = "http://127.0.0.1:8001/login"\nusername = "u"\n'
            'password_command = "echo hunter2supersecret"\n',
            "environments.staging.smoke.login.password_command",
            18,
            "hunter2supersecret",
        ),
        (
            '\n[announce]\ntemplate = """\n-----BEGIN OPENSSH ' + 'PRIVATE KEY-----\nb3BlbnNzaA==\n"""\n',
            "announce.template",
            16,
            "b3BlbnNzaA",
        ),
    ],
)
def test_a_literal_secret_anywhere_is_refused_without_echoing_it(
    tmp_path: Path, addition: str, key: str, line: int, hidden: str
) -> None:
    if not key:  # a URL with user:password@ in a deploy command
        text = GOOD.replace(
            'run = "{python} manage.py maintenance on"',
            'run = "git fetch https://deploy:pa55word@git.example.invalid/site.git"',
        )
        key, line, hidden = "environments.staging.pre.0.run", 13, "pa55word"
    else:
        text = GOOD + addition
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:{line}: {key}: secrets never go in this file" in message
    assert hidden not in message and hidden not in info.value.fix
    assert "_env" in info.value.fix and "password_command" in info.value.fix


@pytest.mark.parametrize(
    "addition",
    [
        '\n[announce]\nwebhook_env = "IACT_WEBHOOK"\n',
        '\n[[environments.staging.smoke.checks]]\nname = "api"\nurl = "http://127.0.0.1:1/"\n'
        'headers = { Authorization = "Bearer $env:IACT_API_TOKEN" }\njson = { password = "$env:IACT_PW" }\n'
        'expect_json = { token_type = "bearer" }\n',
        '\n[forge]\nrepository = "acme/site"\n[announce]\noutput = "git@github.com:acme/site.git"\n',
        '\n[forge]\napi_url = "https://api.github.com"\n',
        '\n[environments.staging.smoke.login]\nurl = "http://127.0.0.1:8001/login?next=/home&page=2"\n'
        'username = "u"\npassword_command = "pass show iact/smoke"\n',
        '\n[environments.staging.smoke.login]\nurl = "http://127.0.0.1:8001/login?token=$env:T"\nusername = "u"\n'
        'password_command = "printf %s \\"$IACT_PW\\""\n',
        '\n[announce]\ntemplate = "git push https://ci:$CI_TOKEN@git.example.invalid/x ssh://git@host:22/x"\n',
    ],
)
def test_secret_sources_and_lookalikes_still_load(tmp_path: Path, addition: str) -> None:
    load_config(write(tmp_path, GOOD + addition))


@pytest.mark.parametrize(
    ("addition", "key", "said"),
    [
        # found by the operator trial: pydantic's raw pattern text, or no error until `plan`
        (
            '\n[announce]\nwebhook_env = "$(touch /tmp/x)"\n',
            "announce.webhook_env",
            "must be the name of an environment variable",
        ),
        ('\n[project]\nprerelease_id = "rc.1"\n', "project.prerelease_id", "SemVer pre-release identifier"),
        ('\n[project]\nchangelog = "../../etc/passwd"\n', "project.changelog", "not a path inside the repository"),
        ('\n[project]\nchangelog = "/etc/passwd"\n', "project.changelog", "relative to the repository's root"),
        ('\n[project]\nversion_files = ["app/__init__.py", "../x.py"]\n', "project.version_files", "'../x.py' is not"),
    ],
)
def test_values_refused_by_shape_say_what_the_key_must_hold(tmp_path: Path, addition: str, key: str, said: str) -> None:
    text = GOOD + addition
    if addition.startswith("\n[project]\n"):  # into the file's own [project] table
        setting, text = addition.removeprefix("\n[project]\n"), GOOD
        if "version_files" in setting:
            text = text.replace('version_files = ["app/__init__.py"]\n', "")
        text = text.replace("[project]\n", "[project]\n" + setting, 1)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    message = str(info.value)
    assert f": {key}: " in message and said in message, message
    assert "should match pattern" not in message
