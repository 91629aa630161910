"""Architecture families: the registry and factory, heads, the papers' layers and models, complexity,
pretrained weights and the bridge that makes every family a timm model."""
