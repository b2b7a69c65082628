// placeholder until the package is filled
export {};
