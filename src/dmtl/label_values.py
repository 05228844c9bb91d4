"""Label values that every layer shares: a leaf module, so that metrics need not import tasks.

``IGNORE_INDEX`` marks unlabelled pixels in class-id, saliency and boundary maps (a uint8 value no
class uses); ``DECODE_EPS`` keeps probabilities off 0 and 1 before a log or logit.
"""

IGNORE_INDEX = 255  # target value of unlabelled pixels in class-id and boundary maps
DECODE_EPS = 1e-4  # probabilities are clamped to [eps, 1 - eps] before a log or logit
