"""Running arpi as a service: systemd notification and watchdog, health, log
stream, HTTPS, graceful shutdown and the unit installer.

Submodules are imported by name (`arpi.ops.sdnotify`, `arpi.ops.watchdog`, ...);
this package imports none of them, so `arpi.ops.unit` (the installer) does not
pull in the actor library.
"""
