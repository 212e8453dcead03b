"""Prints `N passed, N failed, N skipped` from nunit-console 2.6's TestResult.xml; fails when any test
failed or was skipped (nothing is skipped silently)."""
import sys
import xml.etree.ElementTree as ET

root = ET.parse(sys.argv[1]).getroot()
cases = root.iter("test-case")
passed = failed = skipped = 0
for case in cases:
    if case.get("executed") != "True":
        skipped += 1
        print(f"SKIPPED {case.get('name')}")
    elif case.get("success") == "True":
        passed += 1
    else:
        failed += 1
        print(f"FAILED {case.get('name')}")
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or skipped or passed == 0 else 0)
