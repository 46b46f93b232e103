"""The device registry: which patient's device is which (kind, model, serial, BLE address, the
gateway it pairs with), enrolled and retired by whom and when."""
