"""The embedded toy world: scenes, oracle, tokenizer, tiny SD recipe and evaluators."""
