40467 4463085848 130721 reporter="source"
40571 743338520 131737 reporter="destination"reporter="source"
