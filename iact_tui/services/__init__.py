"""Services: each wraps one outside world (git, hosts, HTTP, files). Imports no Textual."""
