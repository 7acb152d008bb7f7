//! Objective prices come from a validating constructor (issue 12): -1, NaN or infinity is an
//! error naming the price.

#[test]
fn objective_prices_are_validated() {
    use costmodel::{CongestionPrice, NanosPerByte, WeightedPrice};
    assert!(
        WeightedPrice::new(
            CongestionPrice::new(1.0).unwrap(),
            -1.0,
            NanosPerByte::new(0.0),
            0.0
        )
        .is_err()
    );
    assert!(
        WeightedPrice::new(
            CongestionPrice::new(1.0).unwrap(),
            1.0,
            NanosPerByte::new(f64::INFINITY),
            0.0
        )
        .is_err()
    );
    assert!(
        WeightedPrice::new(
            CongestionPrice::new(1.0).unwrap(),
            1.0,
            NanosPerByte::new(0.0),
            f64::NAN
        )
        .is_err()
    );
    assert!(CongestionPrice::new(-1.0).is_err());
    assert!(CongestionPrice::new(f64::INFINITY).is_err());
    let err = WeightedPrice::new(
        CongestionPrice::new(1.0).unwrap(),
        -1.0,
        NanosPerByte::new(0.0),
        0.0,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("compute") && err.contains("-1"), "{err}");
    assert!(
        WeightedPrice::new(
            CongestionPrice::new(2.0).unwrap(),
            1.0,
            NanosPerByte::new(0.5),
            0.0
        )
        .is_ok()
    );
}
