window.matrixboxBench = "init";
