"""Running authsvc beside its registries: the registry's configuration and its checks
(``authsvc registry-config``, ``authsvc doctor``), key rotation, backup and restore."""
