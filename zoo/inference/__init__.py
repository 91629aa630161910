"""Using an entry: decoding input images, prediction, and Grad-CAM explanations and their scores."""
