pub fn topic() {}
