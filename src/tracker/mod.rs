pub mod kalman;
