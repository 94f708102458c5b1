Bextj
locationweights.binj
offset9223372036854775800j
length16p