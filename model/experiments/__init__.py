"""The models and numbers behind the experiments: the playground, the tiny trained transformer, the head atlas,
the article's example by hand, √d, reach, and attention against importance."""
