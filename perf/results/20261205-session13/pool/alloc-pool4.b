37317 443280544 77689 reporter="destination"reporter="source"
43107 2691302032 79796 reporter="source"
