35001 269098344 96470 reporter="destination"reporter="source"
39661 368930320 99617 reporter="source"
