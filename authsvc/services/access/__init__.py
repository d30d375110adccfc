"""Who belongs where: user accounts, projects, members and their roles -- every change checked by
``core.policy``, every hidden project answered like one that does not exist."""
