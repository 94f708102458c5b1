Bextj
locationweights.binj
offset8j
length9223372036854775807p