"""Family definitions: each module registers its families with ``register_family`` on import."""
