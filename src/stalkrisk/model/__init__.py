"""The risk model: labels, the fitted booster with its Platt calibration and bands, the flag."""
