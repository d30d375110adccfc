"""The pure core: scope grammar, name grammars, roles and the access decision.

Nothing in this package imports Flask, SQLAlchemy or touches the network, so
each rule is written once here and unit-tested without a server or database.
"""
