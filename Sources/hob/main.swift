print("hob")
