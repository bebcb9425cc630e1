"""The human structure prior: person segmentation and landmarks, body models, and the body fit."""
