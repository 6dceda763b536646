//! Page sizes of the listings whose requests say `page_size` the same way:
//! `0` for the default of 20, otherwise 1 to 100.

/// Items per page: 0 means 20, at most 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSize(u32);

impl PageSize {
    pub fn parse(raw: i32) -> Result<Self, &'static str> {
        match raw {
            0 => Ok(Self(20)),
            1..=100 => Ok(Self(raw.unsigned_abs())),
            _ => Err("must be 0 to 100"),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_bounded() {
        assert_eq!(PageSize::parse(0).unwrap().get(), 20);
        assert_eq!(PageSize::parse(100).unwrap().get(), 100);
        assert!(PageSize::parse(101).is_err());
        assert!(PageSize::parse(-1).is_err());
    }
}
